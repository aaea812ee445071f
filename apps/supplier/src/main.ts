// The supplier service: hands every worker the freshest frame of its stream.
import { runServiceProcess } from '@framewire/service-runtime';
import { loadSupplierConfig } from './config';
import { SUPPLIER_SERVICE } from './supplier.module';

void runServiceProcess(() => loadSupplierConfig(), SUPPLIER_SERVICE);
