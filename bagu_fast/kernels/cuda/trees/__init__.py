"""Trees-family kernels (cuda): one module per concept, re-exported here.

histogram.py: histograms, split finding, partition, prediction (histogram gradient boosting).
criteria.py: class histograms and the classic split criteria (ID3 / C4.5 / CART, MSE).
Each submodule adds one import line below.

PTX_SIGNATURES: dict = {}  # merged from each submodule: PTX_SIGNATURES.update(sub.PTX_SIGNATURES)
