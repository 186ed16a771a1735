"""Developer tools and the server launcher (tools/serve.py); none of it is imported by the app."""
