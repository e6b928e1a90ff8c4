"""`hawizard lab prove`: a recording workload, the day-2 operations and a history checker."""
