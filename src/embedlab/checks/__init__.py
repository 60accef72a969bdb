"""Hidden test cases for the automatically checked exercises, one module per chapter."""
