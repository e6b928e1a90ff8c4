"""The production checklist's pieces: what is read from each node (`facts`: the read-only
script and its parsers) and how each item is judged (`items`, the entry point; item 1 in
`etcd_item`, items 2 and 3 in `control_plane_item`, the verdict model in `verdict`). Pure:
the gathering over SSH and HTTP lives in `hawizard.ops.check`.
"""
