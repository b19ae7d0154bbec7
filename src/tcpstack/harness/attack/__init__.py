"""Attack experiments: ``tcpstack attack NAME`` (issue 12).
"""
