"""Reports: results.json, results.csv and report.html, built from the store alone."""
