"""The knowledge base, its search index, and the education vocabulary shared with routing."""
