"""Ingestion, what `in_finance_data` runs: the seeded mock charges and satisfaction scores (`mock_data`), or the
user's own CSVs, written as part files to the bucket, and the bucket's layout of those parts and of the manifests
that mark a day complete (`bucket`). Nothing here knows the database."""
