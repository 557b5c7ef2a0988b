"""What a run leaves behind: results, failure records, HAR recordings, results.json, JUnit and HTML."""
