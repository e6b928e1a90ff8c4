"""Shared fixtures: each lives in tests/fixtures/ and is loaded here for every test folder."""

pytest_plugins = [
    f"fixtures.{name}"
    for name in ("lab", "sshd", "local_etcd")
    if __import__("importlib.util").util.find_spec(f"fixtures.{name}") is not None
]
