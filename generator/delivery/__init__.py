"""How rendered files reach the machines: the only writer of the output folder
(write.py), the NoCloud ISO writer (iso.py) and the platforms' user-data limits
(budget.py)."""
