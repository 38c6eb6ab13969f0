"""cocotb testbenches and the engine adapter that runs engine-API models inside cocotb."""
