# The submission folder also holds `answers.txt`, a symlink to the master
# notebook (made by the test): nbgrader copies it as root, following the link.
import json

try:
    with open("answers.txt") as f:
        nb = json.load(f)
except (OSError, ValueError) as exc:
    print("answers.txt:", type(exc).__name__)
else:
    print("LEAKED answers.txt")
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            exec("".join(cell["source"]), globals())
