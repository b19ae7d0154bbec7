"""Drivers: what moves packets and time in and out of the sans-I/O core.

* :mod:`~tcpstack.drivers.sim`: a discrete-event network in virtual time;
* :mod:`~tcpstack.drivers.tun`: a Linux TUN device, to talk to the kernel's TCP;
* :mod:`~tcpstack.drivers.faults`: the one fault model (random and burst
  loss, delay, jitter, reordering, duplication, corruption) both of them
  apply to packets;
* :mod:`~tcpstack.drivers.netns`: network namespaces for anything that
  touches a real interface;
* :mod:`~tcpstack.drivers.apps`: the small applications drivers run
  (echo, discard, HTTP, send and sink clients).
"""
