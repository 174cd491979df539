"""Great Expectations suites per source (validation issue)."""
