"""The project's own tools: the local stack (`scripts.stack`, behind the Makefile), the benches
(`scripts.bench`, `scripts.bench_load`, `scripts.bench_models`) and the browser (`scripts.ui`).
`supervise.py` and `preload.py` are run by path, as the local stack's Airflow processes."""
