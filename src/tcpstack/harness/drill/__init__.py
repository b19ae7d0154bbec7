"""``tcpstack drill``: packetdrill-style scripts run against tcpstack or the Linux kernel.

A script is a timed sequence of socket calls and of TCP segments going in
(``<``) and coming out (``>``). The same script runs on two targets:
:mod:`tcpstack.harness.drill.targets.tcpstack` (the sans-I/O stack in virtual time)
and :mod:`tcpstack.harness.drill.targets.linux` (real sockets in a private network
namespace, segments injected and captured on a TUN device).
"""
