"""Use cases: one function each, one transaction each. The only code that writes.

Every mutation checks the caller's permission and scope, applies the domain rules and
writes its audit event in the same transaction.
"""
