"""Kubernetes activities of our own, next to chaostoolkit-kubernetes (chaosk8s): what chaosk8s lacks.

* :mod:`.zone` — delete the pods of one service that run on one zone's nodes (chaosk8s can cordon nodes
  by label, but cannot select pods by the zone of their node).
* :mod:`.probes` — count ready pods (never one being deleted), and measure how long until a selector has
  its pods back (the figure for pod replacement and for database primary failover).
* :mod:`.pods` — delete or exec into exactly the runner's chosen pods, confirmed before returning;
  :mod:`.exec` — one exec with its real exit code, stderr and clear refusals.
* :mod:`.evict` — evictions that wait out PodDisruptionBudgets (HTTP 429) within a deadline.
* :mod:`.deploy` — wait until an ``apps/v1`` rollout or scale has converged.
* :mod:`.cdn` — an edge behind an Ingress goes dark (scaled to 0); the Ingress switched to a serving edge,
  timed from the fault.

Clients come from chaosk8s (``create_k8s_api_client``: kubeconfig first, else ``KUBERNETES_HOST``…);
every call here passes ``_request_timeout`` so a hung API server fails the activity.
"""
