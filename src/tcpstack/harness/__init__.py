"""Programs that exercise the stack: they drive it, they are not part of it.

* :mod:`~tcpstack.harness.drill`: packetdrill-style scripts against tcpstack or Linux;
* :mod:`~tcpstack.harness.torture`: seeded two-way transfers over hostile links;
* :mod:`~tcpstack.harness.bench`: the benchmarks behind ``tcpstack bench``, with
  :mod:`~tcpstack.harness.speed` (the speed figures in the simulator) and
  :mod:`~tcpstack.harness.references` (the kernel's figures and tcpstack over TUN,
  measured in namespaces of their own).
"""
