"""hawizard: an HA Kubernetes control plane on a TLS-secured etcd cluster, step by step."""

__version__ = "0.1.0"
