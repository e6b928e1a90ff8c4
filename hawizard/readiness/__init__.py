"""The production checklist's pieces: what is read from each node (`facts`: the read-only
script and its parsers) and how each item is judged (`items`). Pure: the gathering over SSH
and HTTP lives in `hawizard.ops.check`.
"""
