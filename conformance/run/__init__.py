"""Running the suite: the run command, the session, live safety, the Schemathesis layer, the pytest plugin."""
