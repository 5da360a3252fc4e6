"""The pipeline engine: steps, the DAG, the cache, runs and executors.

It knows artifacts and stores, and nothing of any stage of the ML flow.
"""
