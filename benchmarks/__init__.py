"""Speed and memory benchmarks: thin entry points to pinnkan.bench (``pinnkan bench …``)."""
