"""XML namespaces of the LRS contract."""

SERVICES_NS = "http://api.lrs.qcf.gov.uk/services"
MODEL_NS = "http://api.lrs.qcf.gov.uk/model"
FAULTS_NS = "http://api.lrs.qcf.gov.uk/faults"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
