import os

# The corpus and hostile files are compared byte for byte with what their generators write,
# and openpyxl serialises XML differently when lxml is importable (OWSLib, a test dependency,
# brings it in). Fixed to openpyxl's own writer before anything imports openpyxl, so the bytes
# do not depend on which packages happen to be installed.
os.environ["OPENPYXL_LXML"] = "False"
