"""Measured throughput frontiers: reading benchmark results (:mod:`.read`), Pareto fronts
kept in a folder (:mod:`.front`), reading a front at a target interactivity on every
backend (:mod:`.interp`) and fitting the roofline's calibration to one (:mod:`.calibrate`).
"""
