FROM base
SHELL ["/bin/bash", "-c"]
RUN true
