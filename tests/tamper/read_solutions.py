# Read the master notebook / the reference and execute their solutions.
import json
import os

PATHS = [
    f"{COURSE}/source/one_neuron/one_neuron.ipynb",
    "../../../source/one_neuron/one_neuron.ipynb",
    f"{REPO}/source/one_neuron/one_neuron.ipynb",
]
for path in PATHS:
    try:
        with open(path) as f:
            nb = json.load(f)
    except (OSError, ValueError):
        continue
    print("LEAKED", path)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            exec("".join(cell["source"]), globals())
for path in [f"{REPO}/autograder/reference.py", f"{REPO}/autograder/checks.py"]:
    try:
        with open(path) as f:
            exec(f.read(), globals())
        print("LEAKED", path)
    except (OSError, SyntaxError, ImportError):
        continue
try:
    print("LEAKED", sorted(os.listdir(COURSE)))
except OSError as exc:
    print("course dir:", type(exc).__name__)
