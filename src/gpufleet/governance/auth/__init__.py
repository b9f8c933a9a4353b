"""API tokens and what each may do: roles scoped to one entity, or the whole fleet."""
