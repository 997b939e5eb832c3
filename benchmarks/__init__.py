"""`make bench`: each benchmark prints its figure and its ratio to a named baseline."""
