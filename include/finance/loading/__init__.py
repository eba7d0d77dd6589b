"""Loading under the data contract, what `finance_elt`'s contract load runs: which files of a day's prefix load
(`day_files`, from the manifests), one file read row by row against its contract (`reader`) or copied when it is
clean (`load_file`), and a day's files swapped into its partition in one transaction with every rejected row kept
(`load_day`)."""
