"""`crib view`: the local read-only web viewer (crib/view/app.py)."""
