"""The department portal: clerks upload their department's files, read the answers and see
nobody else's (`yitu portal`; accounts with `yitu accounts`)."""
