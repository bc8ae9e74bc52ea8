import Metastable
print("metastable")
