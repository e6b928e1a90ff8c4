"""The Kubernetes control plane on every master (its load balancer is `hawizard.balancer`).

- `render`   pure text: the three systemd units, kubeconfigs, audit policy;
- `binaries` kube-* binaries: downloaded on the node with a sha256 check, or uploaded;
- `rollout`  the phases `hawizard apply` runs after etcd (`control_plane_rollout_phases`);
- `probe`    `/livez` and `/readyz?verbose` of every apiserver, for `status` and the rollout.
"""
