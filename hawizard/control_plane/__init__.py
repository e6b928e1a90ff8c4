"""The Kubernetes control plane on every master, and the load balancer in front of it.

- `render`   pure text: the three systemd units, kubeconfigs, audit policy, haproxy config;
- `binaries` kube-* binaries: downloaded on the node with a sha256 check, or uploaded;
- `rollout`  the phases `hawizard apply` runs after etcd (`control_plane_phases(plan)`);
- `probe`    `/livez` and `/readyz?verbose` of every apiserver, for `status` and the rollout.
"""
