"""What Airflow runs: the landing-zone trigger, locks, and one function per DAG task.

The DAG files in `dags/` only wire these together; everything here is plain Python that the
CLI and the tests can call without a scheduler.
"""
