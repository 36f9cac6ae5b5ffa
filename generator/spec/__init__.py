"""Spec handling: read a cluster spec, check it, and say exactly what an operator must fix.

Flow: `load` (YAML -> data + the line of every field) -> `validate` (the JSON Schema via
`schema`, then every semantic check of the one registry `validate.SEMANTIC_CHECKS`) ->
`Findings` (problems refuse the spec, warnings accept it) -> `generator.model.build`.

Where a check lives, by what it reads:
- `nodes`: one node at a time: names, addresses, gateways, DNS, labels, NIC names, MACs;
- `control_plane`: the endpoint, the VIP (address, image, NIC) and the control-plane count;
- `cluster`: cluster-wide settings: Kubernetes version, OS (and cgroup v1), subnets, mirrors,
  Calico, bootstrap and offline.
`findings` holds what the checks share (Findings, SemanticCheck, field paths); `rules` holds
the defaults and patterns that the checks, the model and the secrets all apply (it imports
nothing of k8sgen). Imports point one way: validate -> checks -> findings -> load; a check
may read generator.model's defaults, and the model imports only `rules` from here
(tests/test_structure.py refuses any import cycle).
"""
