"""The API endpoint: haproxy in front of every master, and in `vip` mode keepalived moving a
virtual IP between the balancer nodes. A domain of its own: it never imports etcd/ or
control_plane/; what spans them (the apply order, the status round) lives in ops/.
"""
