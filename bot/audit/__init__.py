"""The Partnership Audit beyond import: changes proposed in chat and confirmed, and the
Audit Analysis that pairs every need with providers of support."""
