"""What the tests share: builders, scenarios, stores, servers, the import graph."""
