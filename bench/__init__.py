"""Benchmarks and load tools: model throughput, end-to-end HTTP load, soak.

Everything here drives a real server process on 127.0.0.1 only, and every load loop is bounded by a
request count and a time limit, so no run can hammer anything but the local machine or run forever.
"""
