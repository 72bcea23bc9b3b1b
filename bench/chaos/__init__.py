"""`make chaos`: one fault at a time under steady signed webhook load, then a check of every acknowledged webhook."""
