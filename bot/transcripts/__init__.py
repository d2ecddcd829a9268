"""Private transcripts: the redacting tracker store, our own tables, queries, purge and export."""
