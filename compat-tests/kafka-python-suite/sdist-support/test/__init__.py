# Provided by vltava's compat-tests: kafka-python's PyPI sdist ships test/
# without test/__init__.py.  Without it `import test.testutil` resolves to
# CPython's stdlib `test` package.  Only copied in when the sdist lacks it.
