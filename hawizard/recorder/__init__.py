"""The flight recorder: every probe round and event, kept beside the plan in SQLite.

`store` opens and bounds the file, `rounds` turns a `ClusterHealth` (plus the apiservers'
states and the VIP holders, as plain data) into one compact JSON row and back, `timeline`
derives an incident's transitions from consecutive rounds, `timespec` reads `--since` and
`--until`. Engine level: it imports the health model and the plan, never a domain or a face.
"""
